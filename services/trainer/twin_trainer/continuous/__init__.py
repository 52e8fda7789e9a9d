"""Continuous training: the twin-trainer consumer, its triggers, the run lock and the launchers."""
