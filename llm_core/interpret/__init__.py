"""Looking inside a model: attention and the residual stream, embeddings, one prompt through the pipeline."""
