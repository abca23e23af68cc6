CITIES = ["Tokyo", "Seattle", "London"]
