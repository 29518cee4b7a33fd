"""Taste math: which clips to compare next, and what the votes and stars say about them."""

from explorer.review.agreement import star_agreement, vote_agreement
from explorer.review.bradley_terry import bradley_terry
from explorer.review.leaderboard import agreement_report, leaderboard
from explorer.review.metric_agreement import metric_agreement
from explorer.review.pairs import next_pair
from explorer.review.ratings import star_summary

__all__ = ["agreement_report", "bradley_terry", "leaderboard", "metric_agreement", "next_pair", "star_agreement", "star_summary", "vote_agreement"]
