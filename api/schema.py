"""What drf-spectacular cannot say from the serializers alone."""


def blank_filters_documented(result, generator, request, public):
    """An optional query parameter left blank (`?state=`, `?team=`, `?until=`) is one not
    given, as DRF reads a query: the document allows the empty value instead of promising a
    400 for it."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
