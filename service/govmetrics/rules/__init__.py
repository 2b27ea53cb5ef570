"""The rule baseline: pkuseg segmentation and the rule record assembler."""
