"""Reading and writing Gaia tables, scores and models. Host↔device copies happen only here."""
