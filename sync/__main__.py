"""`python -m sync` runs the trialwatch command line."""

from sync.cli.app import main

main()
