"""人事異動と権限の再確認: staff registry, change rounds, rights changes, 棚卸し."""
