"""Entry point of the node: `twin-node` or `python -m twin_node` (same as `twin node`)."""

import sys

from twin_node.cli import main

if __name__ == "__main__":
    sys.exit(main())
