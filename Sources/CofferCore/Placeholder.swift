enum _PlaceholderCofferCore {}
