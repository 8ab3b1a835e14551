"""Field formats and pictures made from a run's results."""
