"""The network: configuration and presets, the TWGTM module, extended attention, SAM, SRM/TaskFormer, prompts."""
