"""`python -m kaosgen`: the same as the `kaosgen` command."""

from kaosgen.cli import main

if __name__ == "__main__":
    main(prog_name="kaosgen")
