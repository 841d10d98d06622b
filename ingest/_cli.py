"""Placeholder until the registry issue (#3) lands."""

from __future__ import annotations

import argparse
import sys

from verify import Settings


def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    print(f"fapiao {args.command}: not yet available", file=sys.stderr)
    return 2


run_ingest = run_generate
