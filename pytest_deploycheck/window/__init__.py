"""Watch windows: the judgement of their samples, the samples on disk, the chart, the loop."""
