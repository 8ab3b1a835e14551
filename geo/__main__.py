"""``python -m geo``: the same command line as ``geo`` (for when the scripts folder is not on PATH)."""

from geo.cli.main import main

if __name__ == "__main__":
    main(prog_name="geo")
