"""The skill-learner service. Start it with `python -m skill_learner` (or `maestro-skill-learner`)."""
