"""The shared contract: code lists, reference divisions and (later) canonical models.

Everything another department needs to share data with us is defined here. This
package imports nothing from the rest of silobridge.
"""
