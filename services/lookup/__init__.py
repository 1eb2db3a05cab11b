"""Register lookup (住民記録照会): purpose-bound, normalised, capped, recorded."""
