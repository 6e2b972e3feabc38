enum _PlaceholderCofferServer {}
