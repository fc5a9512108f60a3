"""The `shardcast` command line: run the operator, the demo, a forecast report, the simulator,
the local stack; and their plots. It sits on top: it may import every layer, none imports it."""
