"""Per-pixel science: masks, index catalogue, anomaly thresholds."""
