import sys

from nnunetv2_glsp.cli import main

sys.exit(main())
