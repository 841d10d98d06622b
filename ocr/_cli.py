"""Placeholder until the ocr issue (#5) lands."""

from __future__ import annotations

import argparse
import sys

from verify import Settings


def run_decode(args: argparse.Namespace, settings: Settings) -> int:
    print(f"fapiao {args.command}: not yet available", file=sys.stderr)
    return 2
