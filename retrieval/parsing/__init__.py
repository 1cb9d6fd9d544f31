"""Document parsing for retrieval: Markdown, PDF, HTML, CSV and JSONL -> cited passages.

``discover`` finds the documents under some paths; ``parse_document`` turns one into passages
with stable citation ids, keeping tables whole (rows are never torn apart, headers repeat).
"""

from .chunking import PASSAGE_TOKEN_BUDGET
from .document import SUPPORTED_SUFFIXES, ParsedDocument, discover, parse_document
from .errors import DocumentError

__all__ = [
    "PASSAGE_TOKEN_BUDGET",
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "ParsedDocument",
    "discover",
    "parse_document",
]
