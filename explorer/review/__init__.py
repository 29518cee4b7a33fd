"""Taste math: which clips to show next, and (later) what the votes say about them."""

from explorer.review.pairs import next_pair

__all__ = ["next_pair"]
