import sys

from batch_client.cli import main

sys.exit(main())
