"""Everything that touches Keras: model building, the attention block, optimizers (SDAGD included)."""
