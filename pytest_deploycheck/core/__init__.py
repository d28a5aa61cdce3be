"""What every layer shares, with no pytest in it: the model, the phases, the policy, redaction,
statistics, durations and safe file names."""
