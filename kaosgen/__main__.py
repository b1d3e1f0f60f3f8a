"""`python -m kaosgen`: the same as the `kaosgen` command."""

from kaosgen.cli import run

if __name__ == "__main__":
    run()
