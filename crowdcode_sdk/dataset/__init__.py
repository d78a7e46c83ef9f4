"""``crowdcode dataset``: from uploaded recordings to a training dataset; see docs/dataset.md."""
