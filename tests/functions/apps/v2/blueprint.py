import azure.durable_functions as df

bp = df.Blueprint()


@bp.activity_trigger(input_name="name")
def shout(name: str) -> str:
    return name.upper() + "!"
