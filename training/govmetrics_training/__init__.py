"""Training-side code: annotated corpus, model training and evaluation."""
