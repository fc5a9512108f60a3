"""`python -m shardcast`: the `shardcast` command, for a child process run by the interpreter
that starts it (tests, bench, the demo) rather than by whichever `shardcast` is on PATH."""

from shardcast.commands.cli import main

if __name__ == "__main__":
    main()
