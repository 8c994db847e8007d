"""The claims of lazyrich validate: importing this package registers every one of them, in order."""
from . import identities  # noqa: F401
from . import attractors  # noqa: F401
from . import reduction  # noqa: F401
from . import stripe  # noqa: F401
from . import learning_curves  # noqa: F401
from . import sphere  # noqa: F401
from . import digits  # noqa: F401
from . import unbalanced  # noqa: F401
from . import one_step  # noqa: F401
from . import l2_sparsity  # noqa: F401
