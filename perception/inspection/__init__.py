"""Inspection: camera frames -> the vision model -> observations control's rules act on, with
the frames they act on kept as evidence."""
