"""Tasks: how examples become tensors, what the model predicts, and how it is scored."""
