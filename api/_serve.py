"""Placeholder until the verify-API issue (#4) lands."""

from __future__ import annotations

import argparse
import sys

from verify import Settings


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    print(f"fapiao {args.command}: not yet available", file=sys.stderr)
    return 2
