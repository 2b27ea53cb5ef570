"""The fine-tuned record model: encoder, heads, inference component."""
