from django.utils import translation


class ProfileLanguageMiddleware:
    """A signed-in user's profile language wins over the browser's Accept-Language.

    Runs after LocaleMiddleware (which handles anonymous visitors from the cookie or the
    browser) and after authentication, which LocaleMiddleware cannot see.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        profile = (
            getattr(user, "customer_profile", None) if user and user.is_authenticated else None
        )
        if profile is not None and profile.language:
            translation.activate(profile.language)
            request.LANGUAGE_CODE = profile.language
        return self.get_response(request)
