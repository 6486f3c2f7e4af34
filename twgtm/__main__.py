"""`python -m twgtm ...`"""
import sys

from .cli import main

sys.exit(main())
