"""`python -m sync` runs the trialwatch command line."""

from sync.cli import main

main()
