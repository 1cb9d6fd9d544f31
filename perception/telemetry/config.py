"""The detector's settings: which tags, how a window of them becomes features, how the alarm
threshold is set. Stored in the artifact's metadata (preprocessing) so the live path
rebuilds exactly the windows the model was fitted on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: tuple[str, ...] = Field(min_length=1)  # input columns, in this order
    # Tags whose level wanders in normal operation (temperatures warming with the room or the
    # load): scored by their rate of change, not their level, or every warm afternoon alarms.
    rate_tags: tuple[str, ...] = ()
    smooth: int = Field(default=10, ge=2, le=3600)  # samples averaged per feature
    rate_lag: int = Field(default=30, ge=1, le=3600)  # samples between the two means of a rate
    spread: bool = True  # also score each level tag's standard deviation over `smooth`
    variance: float = Field(default=0.95, gt=0, le=1)  # training variance the PCA model keeps
    quantile: float = Field(default=0.99, gt=0.5, le=1)  # of training T² and Q: the unit of score
    # Anomaly threshold in those units: 3 = three times what the 99th percentile of normal
    # operation reached.
    margin: float = Field(default=3.0, gt=0)
    sample_period_s: float = Field(default=1.0, gt=0)
    # One alarm per episode, not a flicker: 3 anomalous windows in a row raise it, 10 normal
    # ones in a row clear it.
    alarm_after: int = Field(default=3, ge=1)
    clear_after: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> DetectorConfig:
        if len(set(self.tags)) != len(self.tags):
            raise ValueError(f"tags repeat: {list(self.tags)}")
        unknown = set(self.rate_tags) - set(self.tags)
        if unknown:
            raise ValueError(f"rate tags {sorted(unknown)} are not among the tags")
        return self

    @property
    def window(self) -> int:
        """Samples in one model input."""
        return self.smooth + (self.rate_lag if self.rate_tags else 0)

    @property
    def level_tags(self) -> tuple[str, ...]:
        return tuple(t for t in self.tags if t not in self.rate_tags)

    def feature_names(self) -> list[str]:
        """One name per feature, in the order the detector computes them."""
        names = [f"{t}:level" for t in self.level_tags]
        names += [f"{t}:rate" for t in self.tags if t in self.rate_tags]
        if self.spread:
            names += [f"{t}:spread" for t in self.level_tags]
        return names
