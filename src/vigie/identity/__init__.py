"""Who calls Vigie: professionals, their structures and their credentials."""
