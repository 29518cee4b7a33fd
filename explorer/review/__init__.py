"""Taste math: which clips to compare next, and what the votes and stars say about them."""

from explorer.review.agreement import star_agreement, vote_agreement
from explorer.review.bradley_terry import bradley_terry
from explorer.review.leaderboard import agreement_report, leaderboard
from explorer.review.metric_agreement import metric_agreement
from explorer.review.pairs import next_pair
from explorer.review.ratings import star_summary
from explorer.review.taste import rank_by_taste, taste_model

__all__ = ["agreement_report", "bradley_terry", "leaderboard", "metric_agreement", "next_pair", "rank_by_taste", "star_agreement", "star_summary", "taste_model", "vote_agreement"]
