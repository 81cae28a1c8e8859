"""`python -m graphrec`: the command line (how the service starts the refresh job as a child process)."""

from graphrec.cli import main

main()
