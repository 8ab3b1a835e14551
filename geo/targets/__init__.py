"""From anomaly rasters to ranked, licence-aware targets."""
