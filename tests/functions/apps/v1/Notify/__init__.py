import azure.functions as func


def main(phone: str, message: func.Out[str]) -> None:
    message.set(f"code for {phone}")
