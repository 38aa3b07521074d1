"""Models: the pretrained base and its families, the fine-tuning methods and their results,
training, inference, the devices they run on, and the TF-IDF baseline."""
