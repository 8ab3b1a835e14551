"""Pipeline files and the runner that executes them."""
