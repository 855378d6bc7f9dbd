"""Networks and LightningModules (one system per file)."""
