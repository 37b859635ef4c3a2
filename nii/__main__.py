"""``python -m nii`` runs the command line."""

import sys

from nii.cli import main

sys.exit(main())
